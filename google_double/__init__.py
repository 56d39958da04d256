"""Google's side of Firebase Authentication, for runs off Google: real RS256 ID tokens signed by a key made for
the run, Google's certificate endpoint (at the HTTP layer, or over HTTPS for functions in other processes) and
the accounts lookup behind `check_revoked`. firebase-admin runs unchanged against them. Never deployed.
"""
