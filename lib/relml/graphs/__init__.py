"""Graph learning: GAT diagnostics and initialisation, GATE, aggregation features, rewiring."""
