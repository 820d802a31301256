"""A cc_binary linked fully static, except in sanitizer builds."""

def static_cc_binary(name, **kwargs):
    native.cc_binary(
        name = name,
        linkstatic = True,
        linkopts = kwargs.pop("linkopts", []) + select({
            "//build_defs:sanitized": [],
            "//conditions:default": ["-static"],
        }),
        **kwargs
    )
