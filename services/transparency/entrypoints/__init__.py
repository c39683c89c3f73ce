"""The portal's ways out: server-rendered pages, the JSON API, the Atom feed and CSV."""
