"""The performance benchmark (`make bench`, `python -m bench`): cold starts, warm latency, SQL statements per
request, webhook throughput and artifact sizes, for our functions and for a naive baseline, measured in one run on
the local stack. Not shipped: nothing here is in the layer or in template.yaml, and the layer never imports it.
"""
