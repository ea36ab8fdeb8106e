"""Open311 GeoReport v2 (CONTRACT §9.4): the centre's categories and requests
for integrators and national portals, in JSON and XML, with no personal data."""
