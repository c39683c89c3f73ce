"""The web form: a server-rendered page per kind, with its templates, static files and EN/RU
messages in this folder."""
