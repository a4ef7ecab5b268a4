module pinpool.io/cni

go 1.22
