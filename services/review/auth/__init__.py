"""Staff access: authentication (who is asking) and authorisation (may they).

Authentication is a chain of `Authenticator`s (authenticators.py): API bearer tokens
for scripts and session cookies for the console, where a session starts with a
password login. An OIDC provider is another `Authenticator` plus a login route; see
authenticators.py. Authorisation is `authorize()` (policy.py) on role and case, and
the endpoint table (endpoints.py) that the middleware (middleware.py) applies.
"""
