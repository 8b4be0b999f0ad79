return kernel "syntax" {
  template = "small.c",
  params = { a = values { 1, 2 } ,, },
}
