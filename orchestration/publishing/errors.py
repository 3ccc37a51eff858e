"""The one error the publishers raise: its message names what could not be published and why."""


class PublishError(Exception):
    """A night could not be published; the message names the segment, table or lock at fault."""
