"""AppExtension: socketify's way to add methods and attributes to Request,
Response and WebSocket objects (app.register(extension))."""


class AppExtension:
    """Collects what one extension adds to one class.

    @ext.method                  def name(self, ...): ...   -> obj.name(...)
    ext.property(name, default)                              -> obj.name, settable per object
    """

    def __init__(self):
        self.properties = []
        self.methods = []
        self.empty = True

    def method(self, method):
        self.empty = False
        self.methods.append((method.__name__, method))
        return method

    def property(self, name, default_value=None):
        self.empty = False
        self.properties.append((name, default_value))

    def bind_methods(self, instance):
        # socketify binds per object (and its WebSocket path misspells this
        # call, so WebSocket methods never appear); kept for compatibility.
        for name, method in self.methods:
            setattr(instance, name, method.__get__(instance, type(instance)))

    def set_properties(self, instance):
        for name, value in self.properties:
            setattr(instance, name, value)

    def make_class(self, base):
        """A subclass of `base` carrying the methods, with the properties as
        class-level defaults (an assignment stays on its own object). Built once
        at register(), so serving a request costs nothing extra per object."""
        namespace = {"__slots__": ("__dict__",), "__module__": base.__module__}
        for name, value in self.properties:
            namespace[name] = value
        for name, method in self.methods:
            namespace[name] = method
        return type(base.__name__, (base,), namespace)
