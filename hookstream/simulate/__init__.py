"""`hookstream simulate`: signed, realistic synthetic webhook traffic against an ingress."""
