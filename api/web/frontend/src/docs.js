// The API documentation page (/schema): Swagger UI, installed from npm and bundled here
// so that the page runs no script and loads no style or font from another host (the
// sign-in token lives in this origin's localStorage).
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-bundle.js";

const root = document.getElementById("swagger-ui");
if (root) {
  SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    // deep links would put a link inside each operation's toggle button: a control
    // nested in a control, which screen readers and keyboards cannot tell apart
    deepLinking: false,
    // the default sends our schema to a public validator service and shows its badge
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Swagger UI's server picker has no text of its own; give it a name
    onComplete: () => {
      const servers = root.querySelector("select#servers");
      if (servers) servers.setAttribute("aria-label", "Server");
    },
  });
}
