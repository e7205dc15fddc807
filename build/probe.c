int kt_probe;
