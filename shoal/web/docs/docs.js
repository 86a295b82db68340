// Swagger UI over the server's OpenAPI document. It lives in a file, not in the page, so the
// page's Content-Security-Policy can refuse every inline script.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  persistAuthorization: true,
  // Swagger UI would otherwise send the document to a public validator.
  validatorUrl: null,
});
