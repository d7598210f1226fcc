"""The HTML, CSS and JavaScript of the explore page (see :mod:`minicnn.explore`)."""


def render(payload):
    return "<html><body><script type='application/json' id='data'>" + payload + "</script></body></html>"
