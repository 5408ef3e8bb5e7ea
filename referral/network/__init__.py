"""The network of service-provider nodes: regions, nodes, and the functions assigned to them."""
