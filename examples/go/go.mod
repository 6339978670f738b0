module libdif/examples

go 1.19

require libdif v0.0.0

replace libdif => ../../bindings/go
