"""What the course's code leans on but a student need not read: writing the outputs so that
nothing is lost or half-written (outputs), finding, downloading and checking the MNIST files
(mnist_files), and the Python version check (require_python)."""
