"""The admin console under /console/: server-rendered pages for finding calls, fixing failures,
pausing destinations and reading the audit log. `hub.console.app.register` mounts it."""
