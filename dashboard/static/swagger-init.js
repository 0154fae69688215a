// Swagger UI for /docs: the bundle comes from the swagger-ui-bundle package, served by the
// dashboard itself (no CDN); this file replaces the inline script a CSP would refuse.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
