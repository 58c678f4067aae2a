"""Code shared by every Lambda handler; bundled into each handler's zip as the `common` package."""
