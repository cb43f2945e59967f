"""The domain core of the auth service.

Deliberately empty: each Lambda imports only the modules it needs, so the
authorizer's cold start never pays for boto3, argon2 or Powertools' resolver.
"""
