"""The health monitor: restarts programs that hang (supervisord already restarts ones that crash)."""
