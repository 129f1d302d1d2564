"""Mirrors of triagehub issues in other trackers: GitHub issues (:mod:`.github_issues`), with
what is written there (:mod:`.render`) kept apart from when and how it is sent."""
