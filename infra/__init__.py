"""The floor every role stands on: the database, the clock, the event log, roles, outbound MQTT.

Nothing here knows a domain: devices, grids, hazards or cases live above and import from here.
"""
