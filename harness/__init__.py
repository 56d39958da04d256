"""The functions driven in-process the way their callers drive them on AWS: loaded from template.yaml, called with
the events/ samples as API Gateway and Stripe send them, against throw-away PostgreSQL databases written the way
the portal writes them. Shared by the tests, the storm (`make storm`) and the benchmark (`make bench`); never
deployed.
"""
