"""Listen and TLS options (socketify's AppListenOptions and AppOptions)."""

from dataclasses import dataclass
from typing import Optional, Union


@dataclass
class AppListenOptions:
    port: int = 0
    host: Optional[str] = None
    options: int = 0
    domain: Optional[str] = None

    def __post_init__(self):
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise RuntimeError("port must be an int between 0 and 65535")
        if self.host is not None and not isinstance(self.host, (str, bytes)):
            raise RuntimeError("host must be a str")
        if not isinstance(self.options, int):
            raise RuntimeError("options must be an int")
        if self.domain is not None and not isinstance(self.domain, (str, bytes)):
            raise RuntimeError("domain must be a str")


@dataclass
class AppOptions:
    key_file_name: Optional[str] = None
    cert_file_name: Optional[str] = None
    passphrase: Optional[str] = None
    dh_params_file_name: Optional[str] = None
    ca_file_name: Optional[str] = None
    ssl_ciphers: Optional[str] = None
    ssl_prefer_low_memory_usage: int = 0

    def __post_init__(self):
        for name in ("key_file_name", "cert_file_name", "passphrase", "dh_params_file_name",
                     "ca_file_name", "ssl_ciphers"):
            value: Union[str, None] = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise RuntimeError("%s must be a str" % name)
        if not isinstance(self.ssl_prefer_low_memory_usage, int):
            raise RuntimeError("ssl_prefer_low_memory_usage must be an int")
