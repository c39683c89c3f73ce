"""The staff console: server-rendered pages (jinja2 templates in templates/, English and
Russian text in messages/) over the review use cases. No JavaScript."""
