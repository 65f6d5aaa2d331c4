"""The operator's web page (--web-port): products, live frames with heatmaps, the score histogram, the
threshold, teaching by dropping images. Same process and product registry as the gRPC service."""
