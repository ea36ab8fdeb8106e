"""The centre's figures as pages (CONTRACT §10): the supervisors' dashboard, the
live wallboard, the monthly management-review report, and the public figures.

A front of its own beside ivr/: it reads app.services.stats, never the reverse.
Each page is a module whose routes join the blueprint of stats.views.
"""
