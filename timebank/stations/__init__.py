"""Community volunteer stations (社区志愿服务站)."""
