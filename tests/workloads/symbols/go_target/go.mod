module perfbpf.test/go_target

go 1.19
