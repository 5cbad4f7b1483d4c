"""Browser views: thin translations between HTTP and the services."""
