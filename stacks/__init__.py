"""The CDKTF app (one TeamStack per team and environment) and the TeamStack itself."""
