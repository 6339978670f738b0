module libdif

go 1.19
