"""Emotion recognition from micro-action timelines (``task=emotion``, ``affect/pipeline.py``).

Reads timelines, never detector internals: a timeline comes from annotations or from
``detection`` run as a black box over the videos (DESIGN §2, data flows one way).
"""
