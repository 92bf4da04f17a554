// The mechanism zoo (issue 26): each file registers one mechanism by name; importing this
// folder registers them all. One line a mechanism.
import './pooling';
import './visual';
import './fourier_mix';
