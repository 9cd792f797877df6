"""Sample size, minimum detectable effect and runtime (`calculator` agrees with statsmodels;
`runtime` reads the event store)."""
