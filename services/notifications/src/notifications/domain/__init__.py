"""The notification rules as plain Python, no I/O, no clock reads.

    targets.py     which endpoint URLs and addresses webhooks may reach (no SSRF)
    watchlists.py  watch kinds, their validation and limits
    changes.py     a certificate's status change and its payload
    delivery.py    retries with backoff and jitter, giving up, disabling an endpoint
    signing.py     Standard Webhooks signatures, with secret rotation
"""
