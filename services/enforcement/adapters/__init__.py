"""Enforcement's outside world: the wiki operations (``executor``), the notice templates
(``notices``) and the names of its store collections (``store``)."""
