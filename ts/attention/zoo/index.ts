// The mechanism zoo of issue 26: each file registers its mechanism by name on import.
import './linformer';
import './nystrom';
import './favor';
import './ortho';
import './lambda';
import './compositional';
