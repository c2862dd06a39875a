"""The paper's protocol as resumable steps: the demo and user protocols."""
