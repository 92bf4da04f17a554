// The mechanism zoo (issue 26): each file registers one mechanism by name; importing this
// folder registers them all. One line a mechanism.
import './local';
import './global';
import './random';
import './linformer';
import './nystrom';
import './favor';
import './ortho';
import './lambda';
import './compositional';
import './pooling';
import './visual';
import './fourier_mix';
