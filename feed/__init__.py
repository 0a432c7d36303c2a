"""The live feed: hazard (and later case) events from the event log, for any number of watchers.

``feed.models`` says what an event and a feed are; ``feed.service`` reads the log; ``feed.flows``
follows it (one reader per process, releasing ids in order) and fans events out to subscribers.
``api.routes.stream`` is its HTTP face.
"""
