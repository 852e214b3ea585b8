/* A React 18 app with the official wrapper, as its README shows it: <TawkMessengerReact> with a
 * ref and every callback prop. The ref's handle (every method the wrapper exposes) is
 * window.__messenger for the tests. */
import { useEffect, useRef } from "react";
import { createRoot } from "react-dom/client";
import TawkMessengerReact from "@tawk.to/tawk-messenger-react";

import { CALLBACKS, config, recorder } from "./record.js";

const callbacks = Object.fromEntries(CALLBACKS.map((name) => [name, recorder(name)]));

function Shop() {
  const messenger = useRef(null);
  useEffect(() => {
    window.__messenger = messenger.current;
    /* What the wrapper exposes: its ref's methods and its callback props. */
    window.__exposed = Object.keys(messenger.current).concat(
      Object.keys(TawkMessengerReact.propTypes).filter((name) => /^on[A-Z]/.test(name)));
    /* The wrapper's own effect ran first (it inserted the script); the script has not run yet,
     * so this is the Tawk_API.visitor the widget starts with. */
    if (config.visitor) messenger.current.visitor(config.visitor);
  }, []);
  return (
    <main>
      <h1>React shop</h1>
      <TawkMessengerReact
        ref={messenger}
        propertyId={config.propertyId}
        widgetId={config.widgetId}
        basePath={config.basePath}
        customStyle={config.customStyle}
        {...callbacks}
      />
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Shop />);
