-- Friends who said they are 上班族: for building 上班族 groups.
{{ identity_segment('上班族') }}
