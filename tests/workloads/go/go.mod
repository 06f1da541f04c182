module perfbpf.test/gotarget

go 1.19
