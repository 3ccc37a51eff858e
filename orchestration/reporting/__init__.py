"""The nightly HTML report: charts and tables of one night, in one self-contained file."""
