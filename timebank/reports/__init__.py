"""Reports: dashboards, exports, service-record certificates and project evaluations."""
