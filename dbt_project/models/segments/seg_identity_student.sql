-- Friends who said they are 学生: for building 学生 groups.
{{ identity_segment('学生') }}
