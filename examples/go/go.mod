module example.com/go-example

go 1.24
