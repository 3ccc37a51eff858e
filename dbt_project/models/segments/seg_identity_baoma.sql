-- Friends who said they are 宝妈: for building 宝妈 groups.
{{ identity_segment('宝妈') }}
